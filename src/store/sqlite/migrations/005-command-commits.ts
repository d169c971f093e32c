/**
 * Operator commands exactly once across a change of leader: the transaction that carries a
 * stored command out also marks the command as committed, with what its answer is built from,
 * so a new leader finding it still pending answers it instead of running it again.
 *
 * @module
 */

export const sql = `
ALTER TABLE commands ADD COLUMN committed_at INTEGER;
ALTER TABLE commands ADD COLUMN committed TEXT;
`;
