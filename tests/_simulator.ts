/**
 * The one mirror simulator of ferry's tests, on one clock (T0) and one pool of test-only keys:
 *
 * - {@linkcode MirrorSimulator}, the hand-signed mirror, for what the writer would refuse to
 *   write (tampered, expired, rolled-back or mis-signed metadata);
 * - {@linkcode makeMirror} and its clone-source preset {@linkcode makeSourceMirror}, mirrors
 *   built by the writer itself, in memory or on disk;
 * - the inspectors every kind of test checks a mirror with ({@linkcode treeDigest},
 *   {@linkcode clientRefresh}, …).
 *
 * @module
 */
export { day, T0 } from "./_simulator/clock.ts";
export {
  assignKeys,
  keyMap,
  MirrorSimulator,
  signFile,
  type SimulatorKeys,
} from "./_simulator/hand_signed_mirror.ts";
export {
  helloPackage,
  makeMirror,
  makeSourceMirror,
  makeTarball,
  type MirrorOptions,
  populate,
  type SourceMirror,
  tarball,
  type TestKeys,
  testKeys,
  type WriterMirror,
} from "./_simulator/writer_mirror.ts";
export { clientRefresh, readJson, tempDir, treeDigest } from "./_simulator/inspect_mirror.ts";
