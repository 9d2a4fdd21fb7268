/**
 * `npm run lag | head` closes stdout before the command is done: end quietly,
 * as Unix tools do, instead of dying with an EPIPE stack trace. Imported first
 * by the commands that print listings.
 */
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
