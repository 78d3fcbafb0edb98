// GoogleTest entry point for tests that run on several MPI ranks.
//
// Every rank runs every test. The process exits non-zero on every rank when
// any rank failed, so CTest reports a failure whichever rank found it.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

int main(int argc, char** argv) {
  int provided = MPI_THREAD_SINGLE;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  if (provided < MPI_THREAD_MULTIPLE) {
    std::fprintf(stderr, "MPI_THREAD_MULTIPLE is not available (provided level %d)\n", provided);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  ::testing::InitGoogleTest(&argc, argv);
  if (rank != 0) {
    // Rank 0 prints the usual report; the others print only their failures.
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int local_result = RUN_ALL_TESTS();
  int result = 0;
  MPI_Allreduce(&local_result, &result, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && result != local_result) {
    std::fprintf(stderr, "a test failed on another rank; see its output above\n");
  }
  MPI_Finalize();
  return result;
}
