/** How Berth shows a secret value wherever it would otherwise be visible: synth output, previews, review specs. */
export const SECRET_MASK = '[secret]';
