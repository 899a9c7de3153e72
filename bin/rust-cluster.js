#!/usr/bin/env node
'use strict';
require('../lib/supervisor/cli').main(process.argv.slice(2));
