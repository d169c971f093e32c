// Types for the reference murmur3 implementation the tests compare against.
declare module "murmurhash3js" {
  const murmurhash3js: { x86: { hash32(key: string, seed?: number): number } };
  export default murmurhash3js;
}
