// child.js (seed 003): answers every message, and prints a configuration it receives.
'use strict';
process.on('message', (msg) => {
console.log('Message from parent process:', msg);
process.send({ foo: 'bar' });
});

// Child process receives and processes
process.on('message', (msg) => {
if (msg.type === 'config') {
console.log('Received configuration:', msg.data);
}
});
