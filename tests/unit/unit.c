/* tests/unit/unit.c - placeholder, filled below */
int main(void) { return 0; }
