// child1 process (seed 002, section I.3): serves '/' on the server handed over by the parent.
'use strict';
let http = require('http');
let server = http.createServer((req, res ) => {
    if(req.url === '/') {
        res.writeHead(200, {'Content-Type':'text/plain'});
        res.end('handled by child1, pid is' + process.pid + '\n');
    } else {
        // gap filled: the seed leaves other urls unanswered; answer so no client hangs
        res.writeHead(404, {'Content-Type':'text/plain'});
        res.end('child1 serves only /\n');
    }
});

process.on('message', ( m, tcp ) => {
    if( m === 'server1') {
        tcp.on('connection', socket => {
            server.emit('connection', socket);
        });
    }
});
