// Slurm's job environment and the launcher check.
#include "pipar/slurm.hpp"

#include <cstdlib>

#include "pipar/error.hpp"

namespace pipar {
namespace {

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> SlurmInfo::to_key_values() const {
  return {
      {"slurm_job_id", job_id},
      {"slurm_job_name", job_name},
      {"slurm_job_nodelist", node_list},
      {"slurm_job_num_nodes", nodes},
      {"slurm_ntasks", tasks},
      {"slurm_tasks_per_node", tasks_per_node},
      {"slurm_cpus_per_task", cpus_per_task},
      {"slurm_step_num_tasks", step_tasks},
      {"slurm_array_job_id", array_job_id},
      {"slurm_array_task_id", array_task_id},
  };
}

SlurmInfo read_slurm_environment() {
  SlurmInfo info;
  info.job_id = environment("SLURM_JOB_ID");
  info.job_name = environment("SLURM_JOB_NAME");
  info.node_list = environment("SLURM_JOB_NODELIST");
  info.nodes = environment("SLURM_JOB_NUM_NODES");
  info.tasks = environment("SLURM_NTASKS");
  info.tasks_per_node = environment("SLURM_TASKS_PER_NODE");
  info.cpus_per_task = environment("SLURM_CPUS_PER_TASK");
  info.step_tasks = environment("SLURM_STEP_NUM_TASKS");
  info.proc_id = environment("SLURM_PROCID");
  info.array_job_id = environment("SLURM_ARRAY_JOB_ID");
  info.array_task_id = environment("SLURM_ARRAY_TASK_ID");
  return info;
}

namespace {

// Tasks of this srun step, or 0 outside a step. SLURM_STEP_NUM_TASKS is set
// by srun; a batch script's own shell has no step.
int step_task_count(const SlurmInfo& slurm) {
  if (slurm.step_tasks.empty()) return 0;
  try {
    return std::stoi(slurm.step_tasks);
  } catch (const std::exception&) {
    return 0;
  }
}

std::string pmi_mismatch_message(const SlurmInfo& slurm, const std::string& finding) {
  return "srun started " + slurm.step_tasks + " tasks but " + finding + ", so every task would "
         "run alone as rank 0: srun's PMI plugin does not match the MPI library. Launch with "
         "srun --mpi=pmix (Debian's Open MPI 4.1 supports PMIx, not PMI-2), set MpiDefault=pmix "
         "in slurm.conf, or use mpirun inside the allocation";
}

}  // namespace

std::string pmix_problem_before_init(const SlurmInfo& slurm, bool has_pmix, bool launched_by_mpirun) {
  if (has_pmix || launched_by_mpirun || step_task_count(slurm) <= 1) return "";
  return pmi_mismatch_message(slurm, "it provides no PMIx server to this task");
}

void check_launcher(const SlurmInfo& slurm, int world_size, bool launched_by_mpirun) {
  if (world_size != 1 || launched_by_mpirun || step_task_count(slurm) <= 1) return;
  throw InputError(pmi_mismatch_message(slurm, "MPI reports a world of 1"));
}

}  // namespace pipar
