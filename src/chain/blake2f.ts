// BLAKE2b's compression function F with a round count (EIP-152), as the BLAKE2F precompile runs it:
// the sixteen 64-bit words of the work vector are pairs of 32-bit locals, each round's eight G mixings
// written out (generated once; G's order, rotations and the message schedule are RFC 7693's), the
// message words read by a flat schedule table. @ethereumjs's (blakejs's) keeps the vector in an array
// and runs ~1.9 million rounds a second here; this one ~12 million (bench:precompiles).

/** RFC 7693's message schedule, ten rows of sixteen: word indices times two (each word is two u32s). */
const SCHEDULE = new Uint8Array(
  [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
  ].flatMap((row) => row.map((w) => 2 * w)),
);

/** BLAKE2b's initialization vector, as (low, high) 32-bit halves. */
const IV = new Int32Array([
  0xf3bcc908, 0x6a09e667, 0x84caa73b, 0xbb67ae85, 0xfe94f82b, 0x3c6ef372, 0x5f1d36f1, 0xa54ff53a, 0xade682d1, 0x510e527f, 0x2b3e6c1f, 0x9b05688c, 0xfb41bd6b,
  0x1f83d9ab, 0x137e2179, 0x5be0cd19,
]);

/**
 * F of EIP-152's 213-byte input (rounds: u32 big-endian; h: 8 words, m: 16 words, t: 2 words,
 * little-endian; f: one byte, 0 or 1, checked by the caller): the new state h, 64 bytes.
 */
export function blake2fCompress(data: Uint8Array): Uint8Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const rounds = view.getUint32(0);
  const h = new Int32Array(16);
  for (let i = 0; i < 16; i++) h[i] = view.getInt32(4 + 4 * i, true);
  const m = new Int32Array(32);
  for (let i = 0; i < 32; i++) m[i] = view.getInt32(68 + 4 * i, true);
  let v0l = h[0]!,
    v0h = h[1]!,
    v1l = h[2]!,
    v1h = h[3]!,
    v2l = h[4]!,
    v2h = h[5]!,
    v3l = h[6]!,
    v3h = h[7]!,
    v4l = h[8]!,
    v4h = h[9]!,
    v5l = h[10]!,
    v5h = h[11]!,
    v6l = h[12]!,
    v6h = h[13]!,
    v7l = h[14]!,
    v7h = h[15]!,
    v8l = IV[0]!,
    v8h = IV[1]!,
    v9l = IV[2]!,
    v9h = IV[3]!,
    v10l = IV[4]!,
    v10h = IV[5]!,
    v11l = IV[6]!,
    v11h = IV[7]!,
    v12l = IV[8]!,
    v12h = IV[9]!,
    v13l = IV[10]!,
    v13h = IV[11]!,
    v14l = IV[12]!,
    v14h = IV[13]!,
    v15l = IV[14]!,
    v15h = IV[15]!;
  v12l ^= view.getInt32(196, true);
  v12h ^= view.getInt32(200, true);
  v13l ^= view.getInt32(204, true);
  v13h ^= view.getInt32(208, true);
  if (data[212] === 1) {
    v14l = ~v14l;
    v14h = ~v14h;
  }
  const S = SCHEDULE;
  let t = 0;
  let xl = 0;
  let xh = 0;
  // o: this round's row of the schedule (round r uses row r mod 10).
  for (let r = 0, o = 0; r < rounds; r++, o = o === 144 ? 0 : o + 16) {
    // G0
    t = (v0l >>> 0) + (v4l >>> 0) + (m[S[o + 0]!]! >>> 0);
    v0h = (v0h + v4h + m[S[o + 0]! + 1]! + ((t / 4294967296) | 0)) | 0;
    v0l = t | 0;
    xl = v12l ^ v0l;
    xh = v12h ^ v0h;
    v12l = xh;
    v12h = xl;
    t = (v8l >>> 0) + (v12l >>> 0);
    v8h = (v8h + v12h + ((t / 4294967296) | 0)) | 0;
    v8l = t | 0;
    xl = v4l ^ v8l;
    xh = v4h ^ v8h;
    v4l = (xl >>> 24) | (xh << 8);
    v4h = (xh >>> 24) | (xl << 8);
    t = (v0l >>> 0) + (v4l >>> 0) + (m[S[o + 1]!]! >>> 0);
    v0h = (v0h + v4h + m[S[o + 1]! + 1]! + ((t / 4294967296) | 0)) | 0;
    v0l = t | 0;
    xl = v12l ^ v0l;
    xh = v12h ^ v0h;
    v12l = (xl >>> 16) | (xh << 16);
    v12h = (xh >>> 16) | (xl << 16);
    t = (v8l >>> 0) + (v12l >>> 0);
    v8h = (v8h + v12h + ((t / 4294967296) | 0)) | 0;
    v8l = t | 0;
    xl = v4l ^ v8l;
    xh = v4h ^ v8h;
    v4l = (xl << 1) | (xh >>> 31);
    v4h = (xh << 1) | (xl >>> 31);
    // G1
    t = (v1l >>> 0) + (v5l >>> 0) + (m[S[o + 2]!]! >>> 0);
    v1h = (v1h + v5h + m[S[o + 2]! + 1]! + ((t / 4294967296) | 0)) | 0;
    v1l = t | 0;
    xl = v13l ^ v1l;
    xh = v13h ^ v1h;
    v13l = xh;
    v13h = xl;
    t = (v9l >>> 0) + (v13l >>> 0);
    v9h = (v9h + v13h + ((t / 4294967296) | 0)) | 0;
    v9l = t | 0;
    xl = v5l ^ v9l;
    xh = v5h ^ v9h;
    v5l = (xl >>> 24) | (xh << 8);
    v5h = (xh >>> 24) | (xl << 8);
    t = (v1l >>> 0) + (v5l >>> 0) + (m[S[o + 3]!]! >>> 0);
    v1h = (v1h + v5h + m[S[o + 3]! + 1]! + ((t / 4294967296) | 0)) | 0;
    v1l = t | 0;
    xl = v13l ^ v1l;
    xh = v13h ^ v1h;
    v13l = (xl >>> 16) | (xh << 16);
    v13h = (xh >>> 16) | (xl << 16);
    t = (v9l >>> 0) + (v13l >>> 0);
    v9h = (v9h + v13h + ((t / 4294967296) | 0)) | 0;
    v9l = t | 0;
    xl = v5l ^ v9l;
    xh = v5h ^ v9h;
    v5l = (xl << 1) | (xh >>> 31);
    v5h = (xh << 1) | (xl >>> 31);
    // G2
    t = (v2l >>> 0) + (v6l >>> 0) + (m[S[o + 4]!]! >>> 0);
    v2h = (v2h + v6h + m[S[o + 4]! + 1]! + ((t / 4294967296) | 0)) | 0;
    v2l = t | 0;
    xl = v14l ^ v2l;
    xh = v14h ^ v2h;
    v14l = xh;
    v14h = xl;
    t = (v10l >>> 0) + (v14l >>> 0);
    v10h = (v10h + v14h + ((t / 4294967296) | 0)) | 0;
    v10l = t | 0;
    xl = v6l ^ v10l;
    xh = v6h ^ v10h;
    v6l = (xl >>> 24) | (xh << 8);
    v6h = (xh >>> 24) | (xl << 8);
    t = (v2l >>> 0) + (v6l >>> 0) + (m[S[o + 5]!]! >>> 0);
    v2h = (v2h + v6h + m[S[o + 5]! + 1]! + ((t / 4294967296) | 0)) | 0;
    v2l = t | 0;
    xl = v14l ^ v2l;
    xh = v14h ^ v2h;
    v14l = (xl >>> 16) | (xh << 16);
    v14h = (xh >>> 16) | (xl << 16);
    t = (v10l >>> 0) + (v14l >>> 0);
    v10h = (v10h + v14h + ((t / 4294967296) | 0)) | 0;
    v10l = t | 0;
    xl = v6l ^ v10l;
    xh = v6h ^ v10h;
    v6l = (xl << 1) | (xh >>> 31);
    v6h = (xh << 1) | (xl >>> 31);
    // G3
    t = (v3l >>> 0) + (v7l >>> 0) + (m[S[o + 6]!]! >>> 0);
    v3h = (v3h + v7h + m[S[o + 6]! + 1]! + ((t / 4294967296) | 0)) | 0;
    v3l = t | 0;
    xl = v15l ^ v3l;
    xh = v15h ^ v3h;
    v15l = xh;
    v15h = xl;
    t = (v11l >>> 0) + (v15l >>> 0);
    v11h = (v11h + v15h + ((t / 4294967296) | 0)) | 0;
    v11l = t | 0;
    xl = v7l ^ v11l;
    xh = v7h ^ v11h;
    v7l = (xl >>> 24) | (xh << 8);
    v7h = (xh >>> 24) | (xl << 8);
    t = (v3l >>> 0) + (v7l >>> 0) + (m[S[o + 7]!]! >>> 0);
    v3h = (v3h + v7h + m[S[o + 7]! + 1]! + ((t / 4294967296) | 0)) | 0;
    v3l = t | 0;
    xl = v15l ^ v3l;
    xh = v15h ^ v3h;
    v15l = (xl >>> 16) | (xh << 16);
    v15h = (xh >>> 16) | (xl << 16);
    t = (v11l >>> 0) + (v15l >>> 0);
    v11h = (v11h + v15h + ((t / 4294967296) | 0)) | 0;
    v11l = t | 0;
    xl = v7l ^ v11l;
    xh = v7h ^ v11h;
    v7l = (xl << 1) | (xh >>> 31);
    v7h = (xh << 1) | (xl >>> 31);
    // G4
    t = (v0l >>> 0) + (v5l >>> 0) + (m[S[o + 8]!]! >>> 0);
    v0h = (v0h + v5h + m[S[o + 8]! + 1]! + ((t / 4294967296) | 0)) | 0;
    v0l = t | 0;
    xl = v15l ^ v0l;
    xh = v15h ^ v0h;
    v15l = xh;
    v15h = xl;
    t = (v10l >>> 0) + (v15l >>> 0);
    v10h = (v10h + v15h + ((t / 4294967296) | 0)) | 0;
    v10l = t | 0;
    xl = v5l ^ v10l;
    xh = v5h ^ v10h;
    v5l = (xl >>> 24) | (xh << 8);
    v5h = (xh >>> 24) | (xl << 8);
    t = (v0l >>> 0) + (v5l >>> 0) + (m[S[o + 9]!]! >>> 0);
    v0h = (v0h + v5h + m[S[o + 9]! + 1]! + ((t / 4294967296) | 0)) | 0;
    v0l = t | 0;
    xl = v15l ^ v0l;
    xh = v15h ^ v0h;
    v15l = (xl >>> 16) | (xh << 16);
    v15h = (xh >>> 16) | (xl << 16);
    t = (v10l >>> 0) + (v15l >>> 0);
    v10h = (v10h + v15h + ((t / 4294967296) | 0)) | 0;
    v10l = t | 0;
    xl = v5l ^ v10l;
    xh = v5h ^ v10h;
    v5l = (xl << 1) | (xh >>> 31);
    v5h = (xh << 1) | (xl >>> 31);
    // G5
    t = (v1l >>> 0) + (v6l >>> 0) + (m[S[o + 10]!]! >>> 0);
    v1h = (v1h + v6h + m[S[o + 10]! + 1]! + ((t / 4294967296) | 0)) | 0;
    v1l = t | 0;
    xl = v12l ^ v1l;
    xh = v12h ^ v1h;
    v12l = xh;
    v12h = xl;
    t = (v11l >>> 0) + (v12l >>> 0);
    v11h = (v11h + v12h + ((t / 4294967296) | 0)) | 0;
    v11l = t | 0;
    xl = v6l ^ v11l;
    xh = v6h ^ v11h;
    v6l = (xl >>> 24) | (xh << 8);
    v6h = (xh >>> 24) | (xl << 8);
    t = (v1l >>> 0) + (v6l >>> 0) + (m[S[o + 11]!]! >>> 0);
    v1h = (v1h + v6h + m[S[o + 11]! + 1]! + ((t / 4294967296) | 0)) | 0;
    v1l = t | 0;
    xl = v12l ^ v1l;
    xh = v12h ^ v1h;
    v12l = (xl >>> 16) | (xh << 16);
    v12h = (xh >>> 16) | (xl << 16);
    t = (v11l >>> 0) + (v12l >>> 0);
    v11h = (v11h + v12h + ((t / 4294967296) | 0)) | 0;
    v11l = t | 0;
    xl = v6l ^ v11l;
    xh = v6h ^ v11h;
    v6l = (xl << 1) | (xh >>> 31);
    v6h = (xh << 1) | (xl >>> 31);
    // G6
    t = (v2l >>> 0) + (v7l >>> 0) + (m[S[o + 12]!]! >>> 0);
    v2h = (v2h + v7h + m[S[o + 12]! + 1]! + ((t / 4294967296) | 0)) | 0;
    v2l = t | 0;
    xl = v13l ^ v2l;
    xh = v13h ^ v2h;
    v13l = xh;
    v13h = xl;
    t = (v8l >>> 0) + (v13l >>> 0);
    v8h = (v8h + v13h + ((t / 4294967296) | 0)) | 0;
    v8l = t | 0;
    xl = v7l ^ v8l;
    xh = v7h ^ v8h;
    v7l = (xl >>> 24) | (xh << 8);
    v7h = (xh >>> 24) | (xl << 8);
    t = (v2l >>> 0) + (v7l >>> 0) + (m[S[o + 13]!]! >>> 0);
    v2h = (v2h + v7h + m[S[o + 13]! + 1]! + ((t / 4294967296) | 0)) | 0;
    v2l = t | 0;
    xl = v13l ^ v2l;
    xh = v13h ^ v2h;
    v13l = (xl >>> 16) | (xh << 16);
    v13h = (xh >>> 16) | (xl << 16);
    t = (v8l >>> 0) + (v13l >>> 0);
    v8h = (v8h + v13h + ((t / 4294967296) | 0)) | 0;
    v8l = t | 0;
    xl = v7l ^ v8l;
    xh = v7h ^ v8h;
    v7l = (xl << 1) | (xh >>> 31);
    v7h = (xh << 1) | (xl >>> 31);
    // G7
    t = (v3l >>> 0) + (v4l >>> 0) + (m[S[o + 14]!]! >>> 0);
    v3h = (v3h + v4h + m[S[o + 14]! + 1]! + ((t / 4294967296) | 0)) | 0;
    v3l = t | 0;
    xl = v14l ^ v3l;
    xh = v14h ^ v3h;
    v14l = xh;
    v14h = xl;
    t = (v9l >>> 0) + (v14l >>> 0);
    v9h = (v9h + v14h + ((t / 4294967296) | 0)) | 0;
    v9l = t | 0;
    xl = v4l ^ v9l;
    xh = v4h ^ v9h;
    v4l = (xl >>> 24) | (xh << 8);
    v4h = (xh >>> 24) | (xl << 8);
    t = (v3l >>> 0) + (v4l >>> 0) + (m[S[o + 15]!]! >>> 0);
    v3h = (v3h + v4h + m[S[o + 15]! + 1]! + ((t / 4294967296) | 0)) | 0;
    v3l = t | 0;
    xl = v14l ^ v3l;
    xh = v14h ^ v3h;
    v14l = (xl >>> 16) | (xh << 16);
    v14h = (xh >>> 16) | (xl << 16);
    t = (v9l >>> 0) + (v14l >>> 0);
    v9h = (v9h + v14h + ((t / 4294967296) | 0)) | 0;
    v9l = t | 0;
    xl = v4l ^ v9l;
    xh = v4h ^ v9h;
    v4l = (xl << 1) | (xh >>> 31);
    v4h = (xh << 1) | (xl >>> 31);
  }
  const v = [
    v0l,
    v0h,
    v1l,
    v1h,
    v2l,
    v2h,
    v3l,
    v3h,
    v4l,
    v4h,
    v5l,
    v5h,
    v6l,
    v6h,
    v7l,
    v7h,
    v8l,
    v8h,
    v9l,
    v9h,
    v10l,
    v10h,
    v11l,
    v11h,
    v12l,
    v12h,
    v13l,
    v13h,
    v14l,
    v14h,
    v15l,
    v15h,
  ];
  const out = new Uint8Array(64);
  const result = new DataView(out.buffer);
  for (let i = 0; i < 16; i++) result.setInt32(4 * i, h[i]! ^ v[i]! ^ v[i + 16]!, true);
  return out;
}
