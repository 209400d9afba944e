import { describe, expect, it } from 'vitest';
import { SentenceSplitter } from './sentences.ts';

/** Feeds the deltas in order; returns what each push emitted and what flush left. */
function run(deltas: string[], minChars?: number): { pushed: string[][]; rest: string | undefined } {
  const s = new SentenceSplitter(minChars);
  const pushed = deltas.map((d) => s.push(d));
  return { pushed, rest: s.flush() };
}

describe('SentenceSplitter', () => {
  it.each<[string, string[], string[][], string | undefined]>([
    ['splits at a question mark followed by space', ['Hello there, how are you? I am fine today. '], [['Hello there, how are you?', 'I am fine today.']], undefined],
    ['splits at an exclamation mark', ['That is wonderful news! Anything else? '], [['That is wonderful news!', 'Anything else?']], undefined],
    ['splits at a newline', ['First line of text\nSecond'], [['First line of text']], 'Second'],
    ['splits after an ellipsis', ['Let me think about it… Yes, it shipped. '], [['Let me think about it…', 'Yes, it shipped.']], undefined],
    ['keeps a closing quote with its sentence', ['He said "stop right now." Then left'], [['He said "stop right now."']], 'Then left'],
    ['keeps "Mr." joined to its sentence', ['Mr. Smith is here. Hi'], [['Mr. Smith is here.']], 'Hi'],
    ['joins short sentences until they are long enough', ['Hi! Ok. Sure. That is all done now. '], [['Hi! Ok. Sure.', 'That is all done now.']], undefined],
    ['does not split a decimal number', ['It costs 12.50 dollars today. ok'], [['It costs 12.50 dollars today.']], 'ok'],
    ['holds a short last sentence for flush', ['Hello there, how are you? I am fine. '], [['Hello there, how are you?']], 'I am fine.'],
    ['waits for whitespace after the end mark', ['Hello world, this is it!'], [[]], 'Hello world, this is it!'],
    ['joins a sentence streamed across deltas', ['Your order has ship', 'ped. It arrives', ' on Monday. '], [[], ['Your order has shipped.'], ['It arrives on Monday.']], undefined],
    ['end mark and space in separate deltas', ['Your order has shipped.', ' Next'], [[], ['Your order has shipped.']], 'Next'],
    ['nothing at all', [''], [[]], undefined],
    ['whitespace only', ['   \n  '], [[]], undefined],
  ])('%s', (_name, deltas, pushed, rest) => {
    expect(run(deltas)).toEqual({ pushed, rest });
  });

  it('minChars decides what counts as a fragment', () => {
    expect(run(['Hi. There you go. '], 1).pushed).toEqual([['Hi.', 'There you go.']]);
    expect(run(['Hi. There you go. '], 100)).toEqual({ pushed: [[]], rest: 'Hi. There you go.' });
  });

  it('flush empties the buffer', () => {
    const s = new SentenceSplitter();
    s.push('Some words without an end');
    expect(s.flush()).toBe('Some words without an end');
    expect(s.flush()).toBeUndefined();
    expect(s.push('A new sentence starts here. ')).toEqual(['A new sentence starts here.']);
  });
});
