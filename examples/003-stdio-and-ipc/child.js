// child.js for parent.js (seed 003 elides it): reads one line from stdin, answers it on
// stdout and over IPC, then closes stdin so it can exit.
'use strict';
process.stdin.once('data', (data) => {
  const line = data.toString().trim();
  process.stdout.write(`child read "${line}" from stdin`);
  process.send({ stdin: line, pid: process.pid });
  process.stdin.destroy();
});
