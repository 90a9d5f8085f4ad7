/** The name of the preflight check the checkpoint adds (apply's last preflight step; plan lists it too). */
export const checkpointCheckLabel = (dir: string) => `checkpoint commits no secret or large file (${dir})`;

/** What that check looks at, in one line. */
export const CHECKPOINT_CHECK_WHAT = 'untracked files that look like secrets (.env*, *.pem, *.key, id_*, a secret’s value) or are over 10 MB are refused';
