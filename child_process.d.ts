// Types of `rust-cluster/child_process`: @types/node's `node:child_process`, unchanged, plus
// rust-cluster's `maxMessageSize` option on the spawn and fork option types. A program typed
// against `child_process` compiles unchanged against `rust-cluster/child_process`.
import * as cp from "node:child_process";
import { Readable, Writable } from "node:stream";

export * from "node:child_process";

/** Options rust-cluster adds to Node's. */
export interface RustClusterMessagingOptions {
    /**
     * Largest IPC message, in bytes, the parent accepts from the child (rust-cluster only;
     * Node has no such limit). A bigger one closes the channel with an
     * `ERR_IPC_MESSAGE_TOO_LARGE` error.
     */
    maxMessageSize?: number | undefined;
}

export interface MessagingOptions extends cp.MessagingOptions, RustClusterMessagingOptions {}
export interface CommonSpawnOptions extends cp.CommonSpawnOptions, RustClusterMessagingOptions {}
export interface SpawnOptions extends cp.SpawnOptions, RustClusterMessagingOptions {}
export interface SpawnOptionsWithoutStdio extends cp.SpawnOptionsWithoutStdio, RustClusterMessagingOptions {}
export interface SpawnOptionsWithStdioTuple<
    Stdin extends cp.StdioNull | cp.StdioPipe,
    Stdout extends cp.StdioNull | cp.StdioPipe,
    Stderr extends cp.StdioNull | cp.StdioPipe,
> extends cp.SpawnOptionsWithStdioTuple<Stdin, Stdout, Stderr>, RustClusterMessagingOptions {}
export interface ForkOptions extends cp.ForkOptions, RustClusterMessagingOptions {}

type StdioNull = cp.StdioNull;
type StdioPipe = cp.StdioPipe;
type ChildProcess = cp.ChildProcess;
type ChildProcessWithoutNullStreams = cp.ChildProcessWithoutNullStreams;
type ChildProcessByStdio<
    I extends null | Writable,
    O extends null | Readable,
    E extends null | Readable,
> = cp.ChildProcessByStdio<I, O, E>;

// The overloads of @types/node's spawn() and fork(), with the option types above.
export function spawn(command: string, options?: SpawnOptionsWithoutStdio): ChildProcessWithoutNullStreams;
export function spawn(
    command: string,
    options: SpawnOptionsWithStdioTuple<StdioPipe, StdioPipe, StdioPipe>,
): ChildProcessByStdio<Writable, Readable, Readable>;
export function spawn(
    command: string,
    options: SpawnOptionsWithStdioTuple<StdioPipe, StdioPipe, StdioNull>,
): ChildProcessByStdio<Writable, Readable, null>;
export function spawn(
    command: string,
    options: SpawnOptionsWithStdioTuple<StdioPipe, StdioNull, StdioPipe>,
): ChildProcessByStdio<Writable, null, Readable>;
export function spawn(
    command: string,
    options: SpawnOptionsWithStdioTuple<StdioNull, StdioPipe, StdioPipe>,
): ChildProcessByStdio<null, Readable, Readable>;
export function spawn(
    command: string,
    options: SpawnOptionsWithStdioTuple<StdioPipe, StdioNull, StdioNull>,
): ChildProcessByStdio<Writable, null, null>;
export function spawn(
    command: string,
    options: SpawnOptionsWithStdioTuple<StdioNull, StdioPipe, StdioNull>,
): ChildProcessByStdio<null, Readable, null>;
export function spawn(
    command: string,
    options: SpawnOptionsWithStdioTuple<StdioNull, StdioNull, StdioPipe>,
): ChildProcessByStdio<null, null, Readable>;
export function spawn(
    command: string,
    options: SpawnOptionsWithStdioTuple<StdioNull, StdioNull, StdioNull>,
): ChildProcessByStdio<null, null, null>;
export function spawn(command: string, options: SpawnOptions): ChildProcess;
// overloads of spawn with 'args'
export function spawn(
    command: string,
    args?: readonly string[],
    options?: SpawnOptionsWithoutStdio,
): ChildProcessWithoutNullStreams;
export function spawn(
    command: string,
    args: readonly string[],
    options: SpawnOptionsWithStdioTuple<StdioPipe, StdioPipe, StdioPipe>,
): ChildProcessByStdio<Writable, Readable, Readable>;
export function spawn(
    command: string,
    args: readonly string[],
    options: SpawnOptionsWithStdioTuple<StdioPipe, StdioPipe, StdioNull>,
): ChildProcessByStdio<Writable, Readable, null>;
export function spawn(
    command: string,
    args: readonly string[],
    options: SpawnOptionsWithStdioTuple<StdioPipe, StdioNull, StdioPipe>,
): ChildProcessByStdio<Writable, null, Readable>;
export function spawn(
    command: string,
    args: readonly string[],
    options: SpawnOptionsWithStdioTuple<StdioNull, StdioPipe, StdioPipe>,
): ChildProcessByStdio<null, Readable, Readable>;
export function spawn(
    command: string,
    args: readonly string[],
    options: SpawnOptionsWithStdioTuple<StdioPipe, StdioNull, StdioNull>,
): ChildProcessByStdio<Writable, null, null>;
export function spawn(
    command: string,
    args: readonly string[],
    options: SpawnOptionsWithStdioTuple<StdioNull, StdioPipe, StdioNull>,
): ChildProcessByStdio<null, Readable, null>;
export function spawn(
    command: string,
    args: readonly string[],
    options: SpawnOptionsWithStdioTuple<StdioNull, StdioNull, StdioPipe>,
): ChildProcessByStdio<null, null, Readable>;
export function spawn(
    command: string,
    args: readonly string[],
    options: SpawnOptionsWithStdioTuple<StdioNull, StdioNull, StdioNull>,
): ChildProcessByStdio<null, null, null>;
export function spawn(command: string, args: readonly string[], options: SpawnOptions): ChildProcess;

export function fork(modulePath: string | URL, options?: ForkOptions): ChildProcess;
export function fork(modulePath: string | URL, args?: readonly string[], options?: ForkOptions): ChildProcess;
