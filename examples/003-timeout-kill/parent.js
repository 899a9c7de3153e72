// From seed 003 ("Inter-process communication"), "Error Handling in Inter-Process
// Communication": watch a child's 'error' and 'exit' events and kill it with SIGTERM
// when it runs past a timeout.
// Gaps filled: the child (child.js, which never finishes on its own), and
// `process.env.TIMEOUT_MS || 5000` for the seed's 5 s timeout.
'use strict';
const { fork } = require('rust-cluster/child_process');
const child = fork(__dirname + '/child.js');

child.on('error', (err) => {
console.error('Child process error:', err);
});
child.on('exit', (code, signal) => {
if (code !== 0) {
console.warn(`Child process exited abnormally, code: ${code}, signal: ${signal}`);
}
});
// Timeout handling
const timeout = setTimeout(() => {
child.kill('SIGTERM');
}, Number(process.env.TIMEOUT_MS) || 5000);
child.on('exit', () => clearTimeout(timeout));
