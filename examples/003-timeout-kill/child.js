// child.js for parent.js: a task that never finishes (seed 003 elides the child).
'use strict';
console.log(`child ${process.pid} working`);
setInterval(() => {}, 1000);
