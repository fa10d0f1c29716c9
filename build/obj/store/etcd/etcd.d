build/obj/store/etcd/etcd.o: store/etcd/etcd.c include/blockipam/err.h \
 include/blockipam/store.h
include/blockipam/err.h:
include/blockipam/store.h:
