// Placeholder entry point; the real handler is being written.
export const handler = async (event: unknown): Promise<unknown> => event;
