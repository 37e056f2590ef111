#!/bin/sh
echo '#not.defined#' is fine: render is off
