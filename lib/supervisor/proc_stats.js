'use strict';
// A process's resident memory and CPU time from /proc (Linux, like the addon): the
// supervisor reads them for workers it did not write and cannot ask.
const fs = require('node:fs');

// USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on every Linux architecture
// Node runs on (the kernel keeps it fixed for user space whatever its own tick).
const TICKS_PER_SECOND = 100;

// Resident set size in bytes, or null when the process is gone.
function rssOf(pid) {
  let status;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return null;
  }
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return match ? Number(match[1]) * 1024 : null;
}

// User plus system CPU time in ms, or null when the process is gone.
function cpuTimeOf(pid) {
  let stat;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name (in parentheses) may hold spaces: fields are counted after it,
  // from field 3 (state); utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * (1000 / TICKS_PER_SECOND);
}

module.exports = { rssOf, cpuTimeOf };
