'use strict';
// The crash-loop guard of the supervisor (the restart delays: ../internal/backoff).

// More than `count` unplanned exits within `window` ms.
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

module.exports = { ExitWindow };
