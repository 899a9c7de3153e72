// child2 process (seed 002, section I.3): serves '/index' on the server handed over by the parent.
'use strict';
let http = require('http');
let server = http.createServer((req, res ) => {
    if(req.url === '/index'){
        res.writeHead(200, {'Content-Type':'text/plain'});
        res.end('handled by child2, pid is' + process.pid + '\n');
    } else {
        // gap filled: the seed leaves other urls unanswered; answer so no client hangs
        res.writeHead(404, {'Content-Type':'text/plain'});
        res.end('child2 serves only /index\n');
    }
});


process.on('message', ( m, tcp ) => {
    if( m === 'server2') {
        tcp.on('connection', socket => {
            server.emit('connection', socket);
        });
    }
});
