// What the README's TF.js example uses without defining: the user's model.
declare const model: import('@tensorflow/tfjs-layers').LayersModel;
