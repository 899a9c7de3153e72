// Types of `rust-cluster/supervisor` (README, "Run an app as a cluster").
import { EventEmitter } from "node:events";
import { Worker } from "node:cluster";

export interface RestartOptions {
    /** ms before the first restart of an instance. Default 100. */
    delay?: number;
    /** Longest delay, ms. Default 15000. */
    maxDelay?: number;
    /** Each failure in a row multiplies the delay by this (1 to 100). Default 2. */
    factor?: number;
    /** A worker ready this long (ms) resets its instance's delay. Default 30000. */
    resetAfter?: number;
}

export interface SupervisorOptions {
    exec?: string;
    args?: readonly string[];
    execArgv?: readonly string[];
    cwd?: string;
    /** Added to the workers' environment. */
    env?: NodeJS.ProcessEnv;
    /** Default 'max' (os.availableParallelism()). */
    instances?: number | "max";
    /** 'listening' (default), or 'message': the worker calls process.send('ready'). */
    ready?: "listening" | "message";
    /** ms; a worker not ready by then is killed, a failed start. 0: none. Default 10000. */
    readyTimeout?: number;
    /** ms after disconnect before SIGKILL. Default 5000. */
    killTimeout?: number;
    restart?: RestartOptions;
    /** More than `count` unplanned exits within `window` ms is a crash loop. Default { count: 10, window: 60000 }. */
    maxRestarts?: { count?: number; window?: number };
    /** Bytes, or a size such as '512M'; null (default): no limit. */
    maxMemory?: number | string | null;
    /** ms between reads of RSS, CPU and connections. Default 1000. */
    checkInterval?: number;
    /** SIGHUP: reload(); SIGTERM, SIGINT: shutdown(). Default false. */
    signals?: boolean;
    /** Prefix each line of worker output with [worker id]. Default false. */
    prefixLogs?: boolean;
    /** As cluster.setupPrimary's. Default false. */
    silent?: boolean;
}

export interface WorkerStats {
    id: number;
    pid: number | undefined;
    slot: number;
    /** Its phase in the primary's worker state machine. */
    state: "starting" | "online" | "listening" | "draining" | "disconnecting" | "disconnected" | "exited" | "dead";
    /** ms since forked. */
    uptime: number;
    /** Restarts of its instance. */
    restarts: number;
    /** Bytes, null if unreadable. */
    rss: number | null;
    /** % of one core over the last check interval. */
    cpu: number;
    /** Connections accepted, as of the last check. */
    connections: number;
}

export interface ReloadInfo {
    duration: number;
    instances: number;
}

export declare class Supervisor extends EventEmitter {
    constructor(options?: SupervisorOptions);
    /** Every instance ready; rejects with ERR_CRASH_LOOP or ERR_SUPERVISOR_STOPPED. */
    readonly ready: Promise<void>;
    reload(): Promise<ReloadInfo>;
    scale(instances: number | "max"): Promise<void>;
    shutdown(): Promise<void>;
    stats(): WorkerStats[];

    on(event: "ready", listener: () => void): this;
    on(event: "restart", listener: (worker: Worker, code: number | null, signal: NodeJS.Signals | null, delay: number) => void): this;
    on(event: "crashloop", listener: (error: Error) => void): this;
    on(event: "reload", listener: (info: ReloadInfo) => void): this;
    on(event: "memory", listener: (worker: Worker, rss: number) => void): this;
    on(event: "exit", listener: (worker: Worker, code: number | null, signal: NodeJS.Signals | null) => void): this;
    on(event: "stats", listener: (stats: WorkerStats[]) => void): this;
    on(event: "shutdown", listener: (crashLoop?: Error) => void): this;
    on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export declare function supervise(options?: SupervisorOptions): Supervisor;
