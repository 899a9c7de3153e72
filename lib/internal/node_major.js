'use strict';
// The running Node's major version: where Node's own behaviour changed between the majors we
// support (20, 22, 24, 26), rust-cluster follows the one it runs on.
module.exports = { NODE_MAJOR: Number(process.versions.node.split('.')[0]) };
