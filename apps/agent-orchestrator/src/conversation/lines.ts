/** What the agent says outside the model, in calls and in the chat channel alike. */
export const FALLBACK_LINE = "Sorry, I'm having trouble right now. Could you say that again?";
export const FILLER_LINE = 'One moment while I check that.';
export const STILL_WORKING_LINE = 'Still working on it, thanks for waiting.';
export const LIMIT_LINE = "Sorry, I couldn't finish that. Could you ask me again in another way?";
export const GIVE_UP_LINE = "I'm sorry, I'm having technical difficulties. Please call back in a little while. Goodbye.";
