# Required only in a worker, after its fork: the import audit must name it.
package ForkctlPerlTest::Late;
1;
