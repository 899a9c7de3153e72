'use strict';
// The pool across machines: tasks go through a Redis stream read by one consumer
// group. A producer (any process calling run()) XADDs a task naming itself; a
// consumer takes tasks with XREADGROUP, runs them on its own ProcessPool, then in
// one MULTI pushes the result onto the producer's result list and XACKs (and
// XDELs) the task. A consumer that dies leaves its tasks pending in the group;
// after visibilityTimeout any other consumer takes them over (XAUTOCLAIM), while a
// live consumer keeps its running tasks' idle time low (XCLAIM ... JUSTID). A task
// may so run twice, but the producer settles each task once: it drops results for
// tasks it no longer waits for.
const os = require('node:os');
const v8 = require('node:v8');
const { randomUUID } = require('node:crypto');
const { deferred, abortError, arm, disarm } = require('./cancellation');
const { encodeError, decodeError, clonableFor } = require('./wire');
const { ProcessPool } = require('./process_pool');
const {
  ERR_POOL_CLOSED,
  ERR_POOL_DESTROYED,
  ERR_POOL_QUEUE_FULL,
  ERR_POOL_NOT_PRODUCER,
} = require('./errors');

const GROUP = 'consumers';
const RESULT_TTL_S = 24 * 3600; // an abandoned result list goes away
const BLOCK_MS = 1000; // blocking reads wake this often to notice a close
const PREFETCH_MS = 50;
const MAX_PREFETCH_PER_SLOT = 256;

const retryDelay = () => new Promise((resolve) => setTimeout(resolve, 100));

function loadClient() {
  try {
    return require('ioredis');
  } catch (err) {
    err.message = `The pool's Redis mode needs the ioredis package (npm install ioredis): ${err.message}`;
    throw err;
  }
}

// Values as Buffers, in the pool's serialization. Wrapped in an array, left empty
// for undefined, which JSON would turn into null.
function codec(serialization) {
  if (serialization === 'json') {
    return {
      encode: (value) => Buffer.from(JSON.stringify(value === undefined ? [] : [value])),
      decode: (buf) => JSON.parse(buf.toString())[0],
    };
  }
  return { encode: (value) => v8.serialize([value]), decode: (buf) => v8.deserialize(buf)[0] };
}

// XREADGROUP / XAUTOCLAIM entries ([id, [field, value, ...]]) -> { entryId, fields }.
function entriesOf(list) {
  const out = [];
  for (const [id, flat] of list || []) {
    if (!flat) continue; // deleted meanwhile
    const fields = {};
    for (let i = 0; i < flat.length; i += 2) fields[flat[i].toString()] = flat[i + 1];
    out.push({ entryId: id.toString(), fields });
  }
  return out;
}

class RedisQueue {
  #o;
  #q;
  #Redis;
  #codec;
  #clonable;
  #keys;
  #id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  #cmd; // commands (auto-pipelined)
  #state = 'open'; // -> 'closing' -> 'closed' | 'destroyed'
  #ended = null;

  // producer
  #producing;
  #seq = 0;
  #pending = new Map(); // seq -> task
  #dropped = 0; // results for tasks no longer waited for (ran twice, timed out, aborted)
  #resultsReader = null;

  // consumer
  #consuming;
  #local = null;
  #taskReader = null;
  #inProgress = new Map(); // entryId -> true
  #replies = null; // results waiting for the next MULTI
  #replying = false; // a MULTI of results is on its way
  #slotFreed = null; // resolves the consumer loop's wait for a free slot
  #consumerStopped = true; // the read loop has ended (or never ran)
  #reclaiming = false;
  #timers = [];
  #loops = [];

  constructor(options) {
    this.#o = options;
    this.#q = options.queue;
    this.#Redis = loadClient();
    this.#codec = codec(options.serialization);
    this.#clonable = clonableFor(options.serialization);
    const base = `rc-pool:{${this.#q.name}}`; // one hash slot: MULTI across the keys works on Redis Cluster
    this.#keys = { tasks: `${base}:tasks`, results: (producer) => `${base}:results:${producer}` };
    this.#producing = options.role !== 'consumer';
    this.#consuming = options.role !== 'producer';
    this.#cmd = this.#connect({ enableAutoPipelining: true });
    if (this.#producing) {
      this.#resultsReader = this.#connect();
      this.#loops.push(this.#readResults());
    }
    if (this.#consuming) {
      this.#local = new ProcessPool(options);
      this.#taskReader = this.#connect();
      this.#consumerStopped = false;
      this.#loops.push(this.#consume().finally(() => {
        this.#consumerStopped = true;
        this.#maybeEnd();
      }));
      const { visibilityTimeout } = this.#q;
      this.#timers.push(setInterval(() => this.#touch(), Math.max(50, visibilityTimeout / 3)));
      this.#timers.push(setInterval(() => this.#reclaim(), Math.max(50, visibilityTimeout / 2)));
    }
  }

  #connect(extra) {
    const { redis } = this.#q;
    const options = { maxRetriesPerRequest: null, ...extra };
    const client = typeof redis === 'string' ? new this.#Redis(redis, options) :
      new this.#Redis({ ...redis, ...options });
    client.on('error', () => {}); // ioredis reconnects; a command that fails reports it
    return client;
  }

  // --- producer -------------------------------------------------------------

  run(arg, name, signal, timeout) {
    if (!this.#producing) return Promise.reject(new ERR_POOL_NOT_PRODUCER(this.#o.role));
    if (this.#state !== 'open') return Promise.reject(new ERR_POOL_CLOSED());
    if (signal?.aborted) {
      return Promise.reject(abortError(signal));
    }
    if (this.#pending.size >= this.#o.maxQueue) {
      return Promise.reject(new ERR_POOL_QUEUE_FULL(this.#o.maxQueue));
    }
    let payload;
    try {
      payload = this.#codec.encode(arg);
    } catch (err) {
      return Promise.reject(err);
    }
    const seq = ++this.#seq;
    const ms = timeout ?? this.#o.taskTimeout;
    const fields = ['p', this.#id, 's', String(seq), 'a', payload];
    if (name !== undefined) fields.push('f', name);
    if (ms > 0) fields.push('t', String(ms));
    const { promise, resolve, reject } = deferred();
    const task = { seq, resolve, reject, timer: null, signal: null, onAbort: null };
    this.#pending.set(seq, task);
    arm(task, ms, signal, (t, reason) => this.#settle(t.seq, false, reason));
    this.#cmd.xadd(this.#keys.tasks, '*', ...fields)
      .catch((err) => this.#settle(seq, false, err));
    return promise;
  }

  // Settles once: a second result for the same task (it ran twice) is dropped.
  #settle(seq, ok, value) {
    const task = this.#pending.get(seq);
    if (task === undefined) return;
    this.#pending.delete(seq);
    disarm(task);
    if (ok) task.resolve(value);
    else task.reject(value);
    if (this.#pending.size === 0 && this.#state !== 'open') this.#maybeEnd();
  }

  async #readResults() {
    const key = this.#keys.results(this.#id);
    const reader = this.#resultsReader;
    while (this.#state === 'open' || this.#pending.size > 0) {
      let items;
      try {
        const popped = await reader.blpopBuffer(key, BLOCK_MS / 1000);
        if (popped === null) continue;
        items = [popped[1]];
        const more = await reader.lpopBuffer(key, 1000);
        if (more) items.push(...more);
      } catch {
        if (this.#state === 'destroyed' || reader.status === 'end') return;
        await retryDelay(); // e.g. reconnecting
        continue;
      }
      for (const item of items) {
        let seq;
        let ok;
        let value;
        try {
          [seq, ok, value] = this.#codec.decode(item);
        } catch {
          continue; // not ours to understand
        }
        if (this.#pending.has(seq)) this.#settle(seq, ok, ok ? value : decodeError(value));
        else this.#dropped++;
      }
    }
  }

  // --- consumer -------------------------------------------------------------

  // The group reads the stream from its start: tasks added before any consumer ran
  // are not missed.
  async #createGroup() {
    try {
      await this.#cmd.xgroup('CREATE', this.#keys.tasks, GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!/BUSYGROUP/.test(err.message)) throw err;
    }
  }

  async #consume() {
    const reader = this.#taskReader;
    let group = false;
    while (this.#state === 'open') {
      if (!group) {
        try {
          await this.#createGroup();
          group = true;
        } catch {
          await retryDelay();
          continue;
        }
      }
      // Read again once half the capacity is free (or nothing is left): one read per
      // finished task would cost a round trip each.
      const capacity = this.#capacity();
      const free = capacity - this.#inProgress.size;
      if (this.#inProgress.size > 0 && free < Math.ceil(capacity / 2)) {
        await new Promise((resolve) => {
          this.#slotFreed = resolve;
        });
        continue;
      }
      let reply;
      try {
        reply = await reader.xreadgroupBuffer('GROUP', GROUP, this.#id, 'COUNT', free,
          'BLOCK', BLOCK_MS, 'STREAMS', this.#keys.tasks, '>');
      } catch (err) {
        if (this.#state !== 'open') return;
        if (/NOGROUP/.test(err.message)) group = false; // the stream was deleted
        else await retryDelay();
        continue;
      }
      // Taken even if closing meanwhile: they are ours now, so they run here.
      if (reply && this.#state !== 'destroyed') {
        for (const entry of entriesOf(reply[0][1])) this.#start(entry);
      }
    }
  }

  #start({ entryId, fields }) {
    if (this.#inProgress.has(entryId)) return;
    if (!fields.p || !fields.s || !fields.a) { // not a task: nobody to answer
      this.#cmd.multi().xack(this.#keys.tasks, GROUP, entryId).xdel(this.#keys.tasks, entryId)
        .exec().catch(() => {});
      return;
    }
    this.#inProgress.set(entryId, true);
    const producer = fields.p.toString();
    const seq = Number(fields.s.toString());
    const name = fields.f ? fields.f.toString() : undefined;
    const timeout = fields.t ? Number(fields.t.toString()) : undefined;
    let run;
    try {
      run = this.#local.run(this.#codec.decode(fields.a), name, undefined, timeout);
    } catch (err) {
      run = Promise.reject(err);
    }
    run.then((value) => this.#reply(entryId, producer, seq, true, value),
      (err) => {
        // Destroyed: not answered, not acknowledged; another consumer will run it.
        if (err?.code === 'ERR_POOL_DESTROYED') this.#done(entryId);
        else this.#reply(entryId, producer, seq, false, encodeError(err, this.#clonable));
      });
  }

  // Results go in one MULTI: pushed onto their producers' lists, and acknowledged,
  // together. One MULTI at a time: results that finish while it is on its way wait
  // for the next, so batches grow with the load and an idle consumer adds no delay.
  #reply(entryId, producer, seq, ok, value) {
    let payload;
    try {
      payload = this.#codec.encode(value === undefined ? [seq, ok] : [seq, ok, value]);
    } catch (err) {
      payload = this.#codec.encode([seq, false, encodeError(err, this.#clonable)]);
    }
    if (this.#replies === null) {
      this.#replies = { byProducer: new Map(), entryIds: [] };
      if (!this.#replying) setImmediate(() => this.#flushReplies());
    }
    const list = this.#replies.byProducer.get(producer);
    if (list) list.push(payload);
    else this.#replies.byProducer.set(producer, [payload]);
    this.#replies.entryIds.push(entryId);
  }

  #flushReplies() {
    const { byProducer, entryIds } = this.#replies;
    this.#replies = null;
    this.#replying = true;
    const multi = this.#cmd.multi();
    for (const [producer, payloads] of byProducer) {
      const key = this.#keys.results(producer);
      multi.rpush(key, ...payloads).expire(key, RESULT_TTL_S);
    }
    multi.xack(this.#keys.tasks, GROUP, ...entryIds).xdel(this.#keys.tasks, ...entryIds)
      .exec()
      .catch(() => {}) // unanswered: the tasks stay pending and are claimed again
      .finally(() => {
        this.#replying = false;
        if (this.#replies !== null) this.#flushReplies();
        for (const entryId of entryIds) this.#done(entryId);
      });
  }

  #done(entryId) {
    this.#inProgress.delete(entryId);
    if (this.#slotFreed) {
      const wake = this.#slotFreed;
      this.#slotFreed = null;
      wake();
    }
    if (this.#inProgress.size === 0 && this.#state !== 'open') this.#maybeEnd();
  }

  // Tasks this consumer takes at once: what its workers run, plus `prefetch` more,
  // by default about PREFETCH_MS of their work (from the measured task time).
  #capacity() {
    const { size, concurrentTasksPerWorker } = this.#o;
    const slots = size * concurrentTasksPerWorker;
    const { prefetch } = this.#q;
    if (prefetch !== 'auto') return slots + prefetch;
    const ms = this.#local.taskMs();
    const perSlot = ms === null ? 1 : Math.floor(PREFETCH_MS / ms);
    return slots + slots * Math.max(1, Math.min(MAX_PREFETCH_PER_SLOT, perSlot));
  }

  // Our running tasks are not idle: reset their idle time so nobody claims them.
  #touch() {
    if (this.#inProgress.size === 0) return;
    this.#cmd.xclaim(this.#keys.tasks, GROUP, this.#id, 0, ...this.#inProgress.keys(), 'JUSTID')
      .catch(() => {});
  }

  // Tasks of consumers silent for visibilityTimeout are ours now.
  async #reclaim() {
    if (this.#state !== 'open' || this.#reclaiming) return;
    this.#reclaiming = true;
    try {
      let cursor = '0-0';
      do {
        const free = this.#capacity() - this.#inProgress.size;
        if (free <= 0) break;
        const [next, entries] = await this.#cmd.xautoclaimBuffer(this.#keys.tasks, GROUP, this.#id,
          this.#q.visibilityTimeout, cursor, 'COUNT', free);
        cursor = next.toString();
        for (const entry of entriesOf(entries)) this.#start(entry);
      } while (cursor !== '0-0' && this.#state === 'open');
    } catch {
      // Redis unreachable: the next round tries again.
    } finally {
      this.#reclaiming = false;
    }
  }

  // --- both -----------------------------------------------------------------

  stats() {
    const local = this.#local ? this.#local.stats() : {
      workers: 0, queued: 0, running: 0, completed: 0, failed: 0, retried: 0, restarts: 0,
    };
    return {
      ...local, pending: this.#pending.size, taken: this.#inProgress.size, dropped: this.#dropped,
    };
  }

  close() {
    if (this.#state === 'open') this.#state = 'closing';
    this.#wakeConsumer();
    const { promise } = this.#end();
    this.#maybeEnd();
    return promise;
  }

  destroy() {
    const { promise } = this.#end();
    if (this.#state !== 'destroyed') {
      this.#state = 'destroyed';
      this.#wakeConsumer();
      for (const seq of [...this.#pending.keys()]) this.#settle(seq, false, new ERR_POOL_DESTROYED());
      this.#finish(this.#local ? this.#local.destroy() : Promise.resolve());
    }
    return promise;
  }

  #wakeConsumer() {
    if (this.#slotFreed) this.#slotFreed();
    this.#slotFreed = null;
  }

  #end() {
    if (this.#ended === null) this.#ended = { ...deferred(), finishing: false };
    return this.#ended;
  }

  // Closing: done once nothing is pending here, no more tasks are being taken and
  // every taken task is answered.
  #maybeEnd() {
    if (this.#state !== 'closing' || this.#pending.size > 0 || this.#inProgress.size > 0 ||
        !this.#consumerStopped) {
      return;
    }
    this.#state = 'closed';
    this.#finish(this.#local ? this.#local.close() : Promise.resolve());
  }

  async #finish(localDone) {
    if (this.#ended.finishing) return;
    this.#ended.finishing = true;
    for (const timer of this.#timers) clearInterval(timer);
    await localDone;
    if (this.#producing && this.#state === 'closed') {
      await this.#cmd.del(this.#keys.results(this.#id)).catch(() => {});
    }
    for (const client of [this.#taskReader, this.#resultsReader]) client?.disconnect();
    await Promise.allSettled(this.#loops);
    await this.#cmd.quit().catch(() => {});
    this.#cmd.disconnect();
    this.#ended.resolve();
  }
}

module.exports = { RedisQueue };
