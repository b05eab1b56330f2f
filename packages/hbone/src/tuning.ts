import type { Settings } from 'node:http2';

// HTTP/2 sizing for tunnels. node:http2 starts every stream and connection
// with 64 KiB of flow-control credit, so a single tunnel can have at most
// 64 KiB in flight per round trip: on loopback that caps it well under
// 1 Gbit/s. The values below were chosen with test/bench (see
// docs/performance.md); each names its unit.

/** SETTINGS_INITIAL_WINDOW_SIZE: credit per stream. Bounds memory a slow reader can make us buffer per tunnel. */
export const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
/** Connection-level window (raised with setLocalWindowSize after the handshake): shared by all streams. */
export const CONNECTION_WINDOW_BYTES = 64 * 1024 * 1024;
/** SETTINGS_MAX_FRAME_SIZE: larger DATA frames mean fewer frame headers and fewer callbacks per byte. */
export const MAX_FRAME_SIZE_BYTES = 1024 * 1024 - 1;
/** SETTINGS_MAX_HEADER_LIST_SIZE hard cap enforced by nghttp2; the softer, counted limit is in server options. */
export const HARD_MAX_HEADER_LIST_BYTES = 64 * 1024;

export function tunnelSettings(extra: { maxConcurrentStreams?: number } = {}): Settings {
  return {
    enablePush: false,
    initialWindowSize: STREAM_WINDOW_BYTES,
    maxFrameSize: MAX_FRAME_SIZE_BYTES,
    maxHeaderListSize: HARD_MAX_HEADER_LIST_BYTES,
    ...(extra.maxConcurrentStreams === undefined ? {} : { maxConcurrentStreams: extra.maxConcurrentStreams }),
  };
}
