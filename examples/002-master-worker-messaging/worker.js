// worker.js work process (seed 002, section I.2)
'use strict';
// Send information to the main process in 3 seconds
setTimeout(() => {
    process.send({name: 'Stone Mountain'});
}, Number(process.env.DELAY_MS) || 3000);

// Used to listen for messages from the parent process
process.on('message', (data) => {
    console.log('I got it.', data);
});
