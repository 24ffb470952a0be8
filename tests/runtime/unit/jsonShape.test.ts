import { checkJsonShape } from "../../../runtime/http/jsonShape";

const shape =
  (text: string, limits = { maxDepth: 3, maxKeys: 4 }) =>
  () =>
    checkJsonShape(Buffer.from(text), limits);

describe("checkJsonShape", () => {
  it("refuses nesting past the depth limit and keys past the key limit, with 400", () => {
    expect(shape('{"a":{"b":[1]}}')).not.toThrow();
    expect(shape('{"a":{"b":[[1]]}}')).toThrow(
      expect.objectContaining({ status: 400, message: expect.stringMatching(/nested deeper than 3 levels/) }),
    );
    expect(shape('{"a":1,"b":2,"c":3,"d":4}')).not.toThrow();
    expect(shape('[{"a":1,"b":2},{"c":3,"d":4,"e":5}]')).toThrow(/more than 4 object keys/);
  });

  it("does not count brackets, braces or colons inside strings, escaped quotes included", () => {
    expect(shape('{"a":"[[[[{{{{::::"}')).not.toThrow();
    expect(shape('{"a":"\\"[[[[\\\\","b":"]]]]:::"}')).not.toThrow();
    expect(shape('{"é[":"ü{{{{"}')).not.toThrow();
  });

  it("refuses the 8 MB of nesting that stalled a worker, in one pass", () => {
    const hostile = Buffer.from("[".repeat(4_000_000) + "]".repeat(4_000_000));
    expect(() => checkJsonShape(hostile)).toThrow(/nested deeper than 64 levels/);
  });
});
