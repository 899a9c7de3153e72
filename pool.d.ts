// Types of `rust-cluster/pool`: a process pool whose tasks survive worker deaths.

/** Exponential backoff between attempts to start a worker after a failed start. */
export interface RestartBackoff {
    /** ms before the first new attempt. Default 100. */
    delay?: number;
    /** Upper bound of the delay, ms. Default 15000. */
    maxDelay?: number;
    /** Each further delay is this many times the previous one. Default 2. */
    factor?: number;
}

/** The Redis mode: tasks go through a Redis stream to consumers on any machine. */
export interface QueueOptions {
    /** A redis:// or rediss:// URL, or ioredis connection options. */
    redis: string | Record<string, unknown>;
    /** The queue's name; producers and consumers of one name share its tasks. Default 'jobs'. */
    name?: string;
    /** ms after which a silent consumer's tasks are run by another. Default 30000. */
    visibilityTimeout?: number;
    /** Tasks a consumer takes beyond those it runs; 'auto': about 50 ms of work per slot. Default 'auto'. */
    prefetch?: number | "auto";
}

export interface PoolOptions {
    /** The task file: a path (relative to the current directory) or a file: URL. */
    filename: string | URL;
    /** Most workers. Default `os.availableParallelism()`. */
    size?: number;
    /** Workers kept even when idle. Default `size`. */
    minSize?: number;
    /** Times a task whose worker died is run again, on another worker. Default 0. */
    maxRetries?: number;
    /** ms from `run()` to `ERR_POOL_TASK_TIMEOUT`; 0: none. Default 0. */
    taskTimeout?: number;
    /** Tasks that may wait for a worker; beyond it `run()` rejects with `ERR_POOL_QUEUE_FULL`. Default Infinity. */
    maxQueue?: number;
    /** Tasks one worker runs at the same time. Default 1. */
    concurrentTasksPerWorker?: number;
    /** How arguments, results and errors cross the channel. Default 'advanced'. */
    serialization?: "advanced" | "json";
    /** ms an idle worker above `minSize` lives; 0: it stays. Default 0. */
    idleTimeout?: number;
    /** Node options of the workers. Default `process.execArgv`. */
    execArgv?: string[];
    /** Environment of the workers. Default `process.env`. */
    env?: NodeJS.ProcessEnv;
    /** Working directory of the workers. Default the parent's. */
    cwd?: string | URL;
    /** Backoff after a failed start. */
    restart?: RestartBackoff;
    /** Across machines through Redis (needs the ioredis package). */
    queue?: QueueOptions;
    /** With `queue`: 'producer' (run() only), 'consumer' (workers only) or 'both'. Default 'both'. */
    role?: "producer" | "consumer" | "both";
}

export interface RunOptions {
    /** The exported function to call; default: the default export. */
    name?: string;
    /** Aborting rejects with an `AbortError`; a running task's worker is killed. */
    signal?: AbortSignal;
    /** ms; overrides `taskTimeout` for this task. */
    timeout?: number;
}

export interface PoolStats {
    workers: number;
    queued: number;
    running: number;
    completed: number;
    failed: number;
    retried: number;
    restarts: number;
    /** Redis mode: tasks this producer awaits. */
    pending?: number;
    /** Redis mode: tasks this consumer holds. */
    taken?: number;
    /** Redis mode: results dropped (a task that ran twice, or settled before its result came). */
    dropped?: number;
}

export class Pool {
    constructor(options: PoolOptions);
    run<T = any>(arg?: unknown, options?: RunOptions): Promise<T>;
    stats(): PoolStats;
    /** Finishes the accepted tasks, then stops the workers. */
    close(): Promise<void>;
    /** Rejects the pending tasks with `ERR_POOL_DESTROYED` and kills the workers now. */
    destroy(): Promise<void>;
}
