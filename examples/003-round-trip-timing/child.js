// child.js for parent.js (seed 003 elides it): answers 'ping' with 'pong'.
'use strict';
process.on('message', (msg) => {
  if (msg === 'ping') process.send('pong');
});
