/* tests/targets/tailcall.h - the functions tailcall.c and tailcall2.c share */
int tc_a(int x);
int tc_b(int x);
int tc_block(int x);
void tc_wait_for(int n);
