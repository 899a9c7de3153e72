// Types of `rust-cluster`: @types/node's `node:cluster`, plus rust-cluster's
// `maxMessageSize` option in the settings workers are forked with and its SCHED_REUSEPORT
// scheduling policy. A program typed against `cluster` compiles unchanged against
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
    }

    export interface Cluster extends nodeCluster.Cluster {
        /**
         * rust-cluster's third scheduling policy: every worker gets its own listening socket
         * bound with SO_REUSEPORT, and the kernel spreads connections among them
         * (`NODE_CLUSTER_SCHED_POLICY=reuseport`).
         */
        readonly SCHED_REUSEPORT: number;
        readonly settings: ClusterSettings;
        setupPrimary(settings?: ClusterSettings): void;
        /** @deprecated since v16.0.0 - use setupPrimary. */
        setupMaster(settings?: ClusterSettings): void;
    }
}

// `Worker` is a class (a value too) in node:cluster; the runtime module has it as well.
declare const cluster: cluster.Cluster & { readonly Worker: typeof nodeCluster.Worker };
export = cluster;
