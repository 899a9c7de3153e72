// child.js for parent.js (seed 003 elides it): counts messages and the items in them,
// checks they arrive in order, and reports when all 2,000 items have arrived.
'use strict';
let messages = 0;
let items = 0;
let next = 0;
process.on('message', (msg) => {
  messages++;
  const list = msg.type === 'batch' ? msg.data : [msg];
  for (const item of list) {
    if (item.index !== next % 1000) throw new Error(`out of order: ${item.index}, expected ${next % 1000}`);
    next++;
    items++;
  }
  if (items === 2000) process.send({ messages, items });
});
