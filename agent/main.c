/* main.c - placeholder until the wiring lands (same session). */
int main(void) { return 1; }
