/** The engine's version, written into image labels and printed by `engine --version`. */
export const ENGINE_VERSION = "0.1.0"
