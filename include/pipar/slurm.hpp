// Slurm's job and step environment variables, and a check that the MPI
// launcher and Slurm agree on the number of tasks.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace pipar {

// Slurm's description of the job; every field is empty outside Slurm.
struct SlurmInfo {
  std::string job_id;          // SLURM_JOB_ID
  std::string job_name;        // SLURM_JOB_NAME
  std::string node_list;       // SLURM_JOB_NODELIST
  std::string nodes;           // SLURM_JOB_NUM_NODES
  std::string tasks;           // SLURM_NTASKS
  std::string tasks_per_node;  // SLURM_TASKS_PER_NODE, for example "3,2" or "4(x2)"
  std::string cpus_per_task;   // SLURM_CPUS_PER_TASK
  std::string step_tasks;      // SLURM_STEP_NUM_TASKS: tasks of this srun step
  std::string proc_id;         // SLURM_PROCID: this task's index in the step
  std::string array_job_id;    // SLURM_ARRAY_JOB_ID
  std::string array_task_id;   // SLURM_ARRAY_TASK_ID

  bool inside_slurm() const { return !job_id.empty(); }
  // Every field as (attribute name, value), for the results metadata.
  std::vector<std::pair<std::string, std::string>> to_key_values() const;
};

SlurmInfo read_slurm_environment();

// Returns why this process cannot join its srun step's MPI world, or "" when
// it can. Runs before MPI_Init, because Open MPI 4.1 aborts inside MPI_Init
// with a message of its own when srun started several tasks without a PMIx
// server (srun --mpi=none or --mpi=pmi2). `has_pmix` is set when the PMIx
// client environment (PMIX_NAMESPACE) is present.
std::string pmix_problem_before_init(const SlurmInfo& slurm, bool has_pmix, bool launched_by_mpirun);

// Throws InputError when srun started several tasks but MPI reports a world
// of one: the tasks then do not know each other, because srun's PMI plugin
// does not match the MPI library, and each would run as rank 0. `world_size`
// is the size of MPI_COMM_WORLD; `launched_by_mpirun` is set when Open MPI's
// mpirun started the process, whose tasks Slurm does not count.
void check_launcher(const SlurmInfo& slurm, int world_size, bool launched_by_mpirun);

}  // namespace pipar
