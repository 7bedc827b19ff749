// Task 2's new vocabulary: three Speech Commands auxiliary words (what the KWS model only ever
// saw as 'unknown'), chosen before any run for being short and distinct, not by accuracy.
export const OTHER_WORDS_TASK2 = ['bird', 'house', 'wow'] as const;
