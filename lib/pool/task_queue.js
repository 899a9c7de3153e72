'use strict';
// The tasks waiting for a worker: FIFO, with retried tasks put back at the front
// and any task removable in O(1) (a timeout or an abort while it waits).
class TaskQueue {
  #head = null;
  #tail = null;
  size = 0;

  push(task) {
    task.prev = this.#tail;
    task.next = null;
    if (this.#tail) this.#tail.next = task;
    else this.#head = task;
    this.#tail = task;
    this.size++;
  }

  unshift(task) {
    task.prev = null;
    task.next = this.#head;
    if (this.#head) this.#head.prev = task;
    else this.#tail = task;
    this.#head = task;
    this.size++;
  }

  first() {
    return this.#head;
  }

  shift() {
    const task = this.#head;
    if (task) this.remove(task);
    return task;
  }

  remove(task) {
    if (task.prev) task.prev.next = task.next;
    else this.#head = task.next;
    if (task.next) task.next.prev = task.prev;
    else this.#tail = task.prev;
    task.prev = task.next = null;
    this.size--;
  }

  // Empties the queue, returning what it held in order.
  drain() {
    const out = [];
    for (let t = this.#head; t;) {
      out.push(t);
      const { next } = t;
      t.prev = t.next = null;
      t = next;
    }
    this.#head = this.#tail = null;
    this.size = 0;
    return out;
  }
}

module.exports = { TaskQueue };
