// A library for a forkctl template: its init loads a "model" (the words of a file) once, in
// the template; every worker forked from it shares that memory and scores its input (the
// lines of standard input, or of the files named) by counting the model's words in it.
//
//   cc -shared -fPIC -O2 -I../../include -o libscorer.so scorer.c
#include <forkctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char **words;
static size_t nwords;

int forkctl_init(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "scorer: usage: forkctl load ID libscorer.so -- MODEL\n");
    return 64;
  }
  FILE *f = fopen(argv[1], "r");
  if (!f) {
    perror(argv[1]);
    return 66;
  }
  char word[256];
  while (fscanf(f, "%255s", word) == 1) {
    words = realloc(words, (nwords + 1) * sizeof(*words));
    words[nwords++] = strdup(word);
  }
  fclose(f);
  return 0;
}

static long score_stream(FILE *in) {
  long hits = 0;
  char word[256];
  while (fscanf(in, "%255s", word) == 1)
    for (size_t i = 0; i < nwords; i++)
      if (strcmp(word, words[i]) == 0) hits++;
  return hits;
}

// forkctl call ID -- score [FILE...]: prints the score of each file (or of standard input).
int score(int argc, char **argv) {
  if (argc < 2) {
    printf("%ld\n", score_stream(stdin));
    return 0;
  }
  int status = 0;
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "r");
    if (!f) {
      perror(argv[i]);
      status = 1;
      continue;
    }
    printf("%s %ld\n", argv[i], score_stream(f));
    fclose(f);
  }
  return status;
}
