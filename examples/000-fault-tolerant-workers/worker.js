// Worker for main.js (seed 000 elides it): squares the number it is sent and sends
// the result back; a task marked `fail` makes it exit with code 1, which the parent
// treats as an unexpected exit.
'use strict';
process.on('message', (task) => {
  if (task.fail) process.exit(1);
  process.send({ n: task.n, square: task.n * task.n, pid: process.pid });
});
