# Sourced by the scripts that start MPI jobs. Open MPI refuses to run as root
# unless both variables are set, and starting more ranks than cores needs
# oversubscription, which these settings allow without changing a command.
if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1
