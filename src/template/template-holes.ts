/** A private-use character standing for a template in the text a slot scanner reads. */
export const HOLE = '\uE000';

/**
 * The text of a field with each template (a null piece) replaced by HOLE, and for each hole's
 * offset its template's index: what the shell and SQL slot scanners read.
 */
export function textWithHoles(pieces: (string | null)[]): { text: string; holes: Map<number, number> } {
  let text = '';
  const holes = new Map<number, number>();
  for (const piece of pieces) {
    if (piece === null) {
      holes.set(text.length, holes.size);
      text += HOLE;
    } else text += piece;
  }
  return { text, holes };
}
