/** The parallel streams a component may use: the runner's cores, or NCA_STREAMS. */
import { MAX_STREAMS, parallelStreams } from '../../functions/core/streams';

describe('parallel streams', () => {
  test('default to the cores the runner was given, at most MAX_STREAMS', () => {
    expect(parallelStreams({}, 1)).toBe(1);
    expect(parallelStreams({}, 4)).toBe(4);
    expect(parallelStreams({}, 64)).toBe(MAX_STREAMS);
  });

  test('NCA_STREAMS overrides the cores', () => {
    expect(parallelStreams({ NCA_STREAMS: '3' }, 1)).toBe(3);
  });

  test.each(['0', '2.5', 'four', '65'])('NCA_STREAMS=%s is refused, naming the variable', (value) => {
    expect(() => parallelStreams({ NCA_STREAMS: value }, 2)).toThrow(expect.objectContaining({ name: 'InvalidInputError', message: expect.stringContaining('NCA_STREAMS') }));
  });
});
