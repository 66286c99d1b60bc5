// Loaded into every peer Start runs (NODE_OPTIONS=--require): dynalite and
// kinesalite rethrow the error of a request that its client aborted
// (req.on('error', function (err) { throw err })), which ends the process,
// so a test that cancels a call in flight lost its peer (dynalite exited
// with "Error: aborted", ECONNRESET). Such an error ends only that request.
'use strict'
process.on('uncaughtException', (err) => {
  if (err && (err.code === 'ECONNRESET' || err.message === 'aborted')) {
    return
  }
  console.error(err)
  process.exit(1)
})
