// Types of `rust-cluster`: @types/node's `node:cluster`, plus rust-cluster's
// `maxMessageSize` option in the settings workers are forked with, its SCHED_REUSEPORT and
// SCHED_ADAPTIVE scheduling policies and SCHED_ADAPTIVE's `adaptive` settings. A program typed against `cluster` compiles unchanged against
// `rust-cluster`.
//
// @types/node declares `cluster` as an ES module with a default export. This file is a
// CommonJS declaration (the package is CommonJS), where `export =` is what describes
// `module.exports = cluster` for every way of importing it: `import cluster from
// 'rust-cluster'` (ES modules, or CommonJS with esModuleInterop), `import cluster =
// require('rust-cluster')`, and named imports of the types and of `Worker`.
import * as nodeCluster from "node:cluster";

declare namespace cluster {
    export type Worker = nodeCluster.Worker;
    export type Address = nodeCluster.Address;

    export interface ClusterSettings extends nodeCluster.ClusterSettings {
        /**
         * Largest IPC message, in bytes, the primary accepts from a worker (rust-cluster
         * only; Node has no such limit).
         */
        maxMessageSize?: number | undefined;
        /** SCHED_ADAPTIVE's timings (rust-cluster only), each in ms, > 0 and <= 60000. */
        adaptive?: AdaptiveSettings | undefined;
    }

    export interface AdaptiveSettings {
        /** How often each worker's accept queue is looked at. Default 5. */
        checkInterval?: number | undefined;
        /**
         * A worker whose accept queue has not shrunk, or who has not answered a connection
         * handed to it, for this long is stalled: the primary deals its connections to the
         * others until it answers. Default 20.
         */
        stallThreshold?: number | undefined;
        /** How long the socket of a worker that left waits for a new worker. Default 1000. */
        orphanTimeout?: number | undefined;
        /** How often to look for other processes' sockets in the port's group. Default 1000. */
        strangerCheck?: number | undefined;
    }

    export interface Cluster extends nodeCluster.Cluster {
        /**
         * rust-cluster's third scheduling policy: every worker gets its own listening socket
         * bound with SO_REUSEPORT, and the kernel spreads connections among them
         * (`NODE_CLUSTER_SCHED_POLICY=reuseport`).
         */
        readonly SCHED_REUSEPORT: number;
        /**
         * rust-cluster's fourth policy: SCHED_REUSEPORT's socket per worker, kept by the
         * primary, which accepts on a worker's socket when that worker dies or stalls
         * (`NODE_CLUSTER_SCHED_POLICY=adaptive`).
         */
        readonly SCHED_ADAPTIVE: number;
        readonly settings: ClusterSettings;
        setupPrimary(settings?: ClusterSettings): void;
        /** @deprecated since v16.0.0 - use setupPrimary. */
        setupMaster(settings?: ClusterSettings): void;
    }
}

// `Worker` is a class (a value too) in node:cluster; the runtime module has it as well.
declare const cluster: cluster.Cluster & { readonly Worker: typeof nodeCluster.Worker };
export = cluster;
