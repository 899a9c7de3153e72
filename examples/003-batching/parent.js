// From seed 003 ("Inter-process communication"), "Message Batching": 1,000 small
// messages versus the same data in one batch message.
// Gaps filled: the child (child.js) counts what it receives and reports once all
// 2,000 items are in; the parent then disconnects it.
'use strict';
const { fork } = require('rust-cluster/child_process');
const child = fork(__dirname + '/child.js');
child.on('message', (msg) => {
  console.log(`child received ${msg.messages} messages carrying ${msg.items} items`);
  child.disconnect();
});

// Not recommended
for (let i = 0; i < 1000; i++) {
child.send({ index: i });
}
// Recommended
const batch = [];
for (let i = 0; i < 1000; i++) {
batch.push({ index: i });
}
child.send({ type: 'batch', data: batch });
