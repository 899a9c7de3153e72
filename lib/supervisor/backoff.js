'use strict';
// When to start a worker again after it died, and when to stop trying.

// The delay before restarting an instance whose worker failed `failures` times in a row
// (0 for the first failure): delay, delay*factor, delay*factor^2, ... up to maxDelay.
function restartDelay({ delay, maxDelay, factor }, failures) {
  return Math.min(maxDelay, Math.round(delay * factor ** failures));
}

// The crash-loop guard: more than `count` unplanned exits within `window` ms.
class ExitWindow {
  constructor({ count, window }) {
    this.count = count;
    this.window = window;
    this.times = [];
  }

  // Records an exit at `now`; true if that makes a crash loop.
  record(now) {
    this.times.push(now);
    while (this.times[0] <= now - this.window) this.times.shift();
    return this.times.length > this.count;
  }
}

module.exports = { restartDelay, ExitWindow };
