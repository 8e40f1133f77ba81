// Package prompt renders the hotline's spoken prompts to the audio files Asterisk plays.
//
// The controller plays a prompt as sound:<prompt_dir>/<name>; Asterisk looks for it in
// its sounds folder under the channel's language, e.g.
// /var/lib/asterisk/sounds/zh/rexian/welcome-mayor.wav. Render turns prompt texts
// (configuration, department names, the dialplan's fallback messages) into such files
// with espeak-ng (Mandarin voice cmn-latn-pinyin) and sox (8 kHz, 16-bit, mono WAV, the format
// Asterisk's own prompts use), so that another city changes a sentence by editing its
// configuration and running `rexian prompts` again rather than booking a studio.
//
// A manifest beside the files records a hash of each prompt's text and of how it was
// rendered; a second run renders only what changed, so the command is cheap to run on
// every deployment. Names are never removed from the folder: prompts rendered by another
// run (department names) stay playable.
package prompt
