#define EA_VERSION "0.1.0"
